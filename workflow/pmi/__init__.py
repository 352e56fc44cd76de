"""The Plan de Mejoramiento Institucional (second stage).

- ``models``: the PMI's tables and their column enums (hallazgos, objetivos, metas, ...),
  the snapshots and the review's observations, the criteria of Circular 0488.
- ``plan``: formulation: who edits, the form parser, the plan as plain data, its labels.
- ``checks``: the Circular 0488 rules over a plan, and their report.
- ``versions``: an immutable snapshot per submission, and element-by-element diffs.
- ``review``: the Secretaría's itemized observations, the rector's answers, verdicts.
- ``actions``: sending the PMI and the Secretaría's review (take, approve, return), with
  their guards.
"""
