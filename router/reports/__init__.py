"""The way back (DESIGN §13): situation reports, checked and filed, and their totals.

service.py  files a report: the plan's places and offices, who may file for whom (the access rules), a time
            not in the future, what it answers; refusals name their field, nothing of them is written; a
            filed report's recipients (router.routing.reports) and their notifications go in its transaction
rollup.py   totals per jurisdiction and for the city over the reports that stand, each citing its reports (pure)
upward.py   the §5.6 upward report of a jurisdiction for a period, by county, each figure citing its reports

A service: imports the domain, plan, access and store; never a channel or an entrypoint.
"""
