"""Attention maps of PinScope's ViTs, checked against the renderer's ground truth.

maps.py (numpy maths) and scores.py (numpy) import nothing heavy; capture.py is the torch glue;
report.py draws pictures and the HTML report; curation.py turns scores into "render more of this";
cli.py is `pinscope-train attention` / `python -m pinscope_trainer.attention.cli`.
"""
