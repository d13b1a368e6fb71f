"""The domain: frozen types and pure rules that everything else speaks in.

models.py      the warning, its classification (products, hazards, ordered levels), actions, the decision
obligation.py  an obligation's states and the one function that says how each event moves it
ladder.py      escalation ladders: when each rung fires and what a due rung does
channels.py    channel kinds, the push channels, the voice confirm key

Imports nothing of warnroute but ``router.errors`` (an import contract holds it to that).
"""
