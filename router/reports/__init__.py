"""The way back (DESIGN §13): situation reports, checked and filed, and their totals.

service.py  files a report: the plan's places and offices, who may file for whom (the access rules), a time
            not in the future, what it answers; refusals name their field, nothing of them is written
rollup.py   totals per jurisdiction and for the city over the reports that stand, each citing its reports (pure)

A service: imports the domain, plan, access and store; never a channel or an entrypoint.
"""
