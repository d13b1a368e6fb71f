"""What follows a send: acknowledgements and tasks done (every way in), gateways' receipts, the escalation scheduler.

acks.py       one service for acknowledgements by API, signed link, SMS reply, voice keypress and Kafka,
              and for delivery receipts
scheduler.py  fires due ladder steps from the store (the pure ladder decides, the store applies)

A service: imports the domain, plan, access and store; never a channel or an entrypoint.
"""
