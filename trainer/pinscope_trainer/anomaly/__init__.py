"""OK-only anomaly detection (`train --task anomaly`): a unit space of OK renders, scored per pixel.

unit_space.py  the model: per view, per pixel, mean and covariance of OK renders (pure numpy + OpenCV)
metrics.py     image AUROC, pixel AUROC, AUPRO against the exact defect masks (pure numpy + OpenCV)
report.py      the anomaly-map grid and the HTML page
run.py         fit on the train split's OK rows only, score validation and test, write the run folder
"""
