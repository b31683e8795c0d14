"""Which epoch becomes checkpoints/best (loop.improves), on the validation numbers of a real demo run."""

from pinscope_trainer.loop import improves

# (val_acc, val_loss) of epochs 5-15 of a default-recipe run: accuracy peaked once at epoch 7 (95.3 % on
# test), the loss kept falling to epoch 14 (the last epoch: 98.3 % on test)
HISTORY = [
    (0.813, 0.4542), (0.940, 0.2750), (0.980, 0.1602), (0.960, 0.1891), (0.953, 0.2026), (0.960, 0.1598),
    (0.967, 0.1346), (0.973, 0.1287), (0.967, 0.1304), (0.967, 0.1277), (0.967, 0.1280),
]  # fmt: skip


def best_epoch(best_by: str) -> int:
    best = {"val_acc": -1.0, "val_loss": float("inf"), "epoch": 0}
    for epoch, (acc, loss) in enumerate(HISTORY, start=5):
        if improves(best_by, acc, loss, best):
            best = {"val_acc": acc, "val_loss": loss, "epoch": epoch}
    return best["epoch"]


def test_by_loss_the_smooth_number_picks_the_late_epoch():
    assert best_epoch("loss") == 14
    assert best_epoch("accuracy") == 7


def test_ties_go_to_the_other_number():
    best = {"val_acc": 0.96, "val_loss": 0.2, "epoch": 3}
    assert improves("loss", 0.97, 0.2, best) and not improves("loss", 0.95, 0.2, best)
    assert improves("accuracy", 0.96, 0.1, best) and not improves("accuracy", 0.96, 0.3, best)
