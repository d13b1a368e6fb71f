"""The way back (DESIGN §13): situation reports filed by offices, checked against the plan's places and
offices and who may file them (:mod:`router.reports.service`), and their totals per place, every total
traceable to the reports it sums (:mod:`router.reports.rollup`, pure)."""
