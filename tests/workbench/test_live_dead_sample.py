"""The dead-unit count beside a training run takes a sample sized to the training split, so
watching costs the run ~2% (the full 500 images after each epoch cost resnet20 10% of its
throughput on the bundled sample); the count at the run's end takes the whole sample."""

from types import SimpleNamespace

from PySide6.QtCore import QObject

from workbench import predict_controller, run_controller
from workbench.views.view_turns import view_turns
from workbench.workers.predict_worker import (
    DEAD_SAMPLE,
    LIVE_DEAD_MIN,
    LIVE_DEAD_SHARE,
    live_dead_sample,
)


def _data(train_images):
    return SimpleNamespace(splits={"train": [0] * train_images})


def test_live_sample_is_a_share_of_the_training_split_within_bounds():
    assert live_dead_sample(_data(1000)) == 1000 // LIVE_DEAD_SHARE == 40
    assert live_dead_sample(_data(54_000)) == DEAD_SAMPLE
    assert live_dead_sample(_data(100)) == LIVE_DEAD_MIN


def test_live_and_final_counts_ask_for_their_samples(monkeypatch):
    asked = []
    monkeypatch.setattr(predict_controller, "dead_units_of",
                        lambda model, dataset, count: asked.append(count) or [])  # fmt: skip
    fake = SimpleNamespace(model=object(), data=SimpleNamespace(dataset=_data(2000)),
                           dead_counter=SimpleNamespace(start=lambda job: job()))  # fmt: skip
    predict_controller.PredictController.count_dead_units(fake, live=True)
    predict_controller.PredictController.count_dead_units(fake)
    assert asked == [80, DEAD_SAMPLE]


class _FakeController(QObject):
    """What RunController._epoch_ended reads of itself; a QObject, as the owner of a view
    turn must be."""

    def __init__(self, calls, epochs=3):
        super().__init__()
        self.job = SimpleNamespace(config=SimpleNamespace(epochs=epochs))
        self.predictions = SimpleNamespace(count_dead_units=lambda **kw: calls.append(kw))


def test_an_epoch_end_counts_live_and_the_last_epoch_leaves_it_to_the_run_end(qtbot):
    calls = []
    fake = _FakeController(calls)
    run_controller.RunController._epoch_ended(fake, SimpleNamespace(epoch=1))
    run_controller.RunController._epoch_ended(fake, SimpleNamespace(epoch=3))
    view_turns().run_all()
    assert calls == [{"live": True}]


def test_the_count_starts_after_the_drawing_the_epoch_end_asked_for(qtbot):
    """The views' steps requested before the count run first: the count's thread holds the
    GIL those paints need."""
    order = []
    fake = _FakeController([])
    fake.predictions = SimpleNamespace(count_dead_units=lambda **kw: order.append("count"))
    turns = view_turns()
    drawer = QObject()
    turns.request(drawer, "confusion", lambda: order.append("confusion"))
    run_controller.RunController._epoch_ended(fake, SimpleNamespace(epoch=1))
    assert order == []  # nothing at once: the count waits its turn
    qtbot.waitUntil(lambda: order == ["confusion", "count"], timeout=5000)
