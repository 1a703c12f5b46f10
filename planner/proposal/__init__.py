"""Procurement proposals: the content of `planner propose` (what to buy, what it costs over its life, why this
and not the alternatives, what it rests on), computed once from a plan; `planner.report.proposal_*` render it.

solver.py        the one adapter onto planner.optimize (solve, or re-verify a given plan; re-solves)
network.py       scale-out fabric estimate (switches, optics, cables) from NIC ports
bom.py           bill of materials and TCO by year
alternatives.py  best plan per accelerator family, rent vs buy, runner-up; sensitivity tornado (via planner.sweep)
assumptions.py   every catalog figure used, with source and date; risks
build.py         Proposal = all of the above
"""
