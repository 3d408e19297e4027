"""A fix that sets a window field of layer k is checked by walking the mended network from
layer k on, the rows before k taken from the unmended walk (engine.shapes, _reusable): the
problems, fixes and rows found must be exactly those of walking the whole network again."""

import itertools

import pytest

import engine
from engine import shapes
from engine.shapes import _Inference


def _broken(name):
    """Networks of ``name`` with one window field changed, each breaking something."""
    spec = engine.load_spec(name)
    windows = [i for i, layer in enumerate(spec.layers)
               if layer.type in ("conv2d", "maxpool2d", "avgpool2d")]  # fmt: skip
    picks = windows[:: max(1, len(windows) // 6)]
    for i, (field, value) in itertools.product(picks, (("kernel", 4), ("stride", 3))):
        layer = spec.layers[i]
        name_of_field = field if field in layer.kind.field_names else "size"
        if name_of_field not in layer.kind.field_names:
            continue
        yield spec.replace_layer(i, layer.replace(**{name_of_field: value}))


def _summary(report):
    return [(row.output_shape, row.formula, [(p.message, p.fixes) for p in row.problems])
            for row in report.rows], [(p.message, p.fixes) for p in report.problems]  # fmt: skip


@pytest.mark.parametrize("name", ["resnet20", "googlenet", "lenet5", "densenet121"])
def test_checks_that_reuse_the_rows_before_the_fix_find_what_a_full_walk_finds(
    name, monkeypatch
):
    specs = list(_broken(name))
    assert specs
    with_reuse = [_summary(_Inference(s, with_fixes=True).report()) for s in specs]
    reused = []
    original = _Inference._reusable
    monkeypatch.setattr(_Inference, "_reusable",
                        lambda self, fix: reused.append(fix) or original(self, fix))  # fmt: skip
    [_Inference(s, with_fixes=True).report() for s in specs]
    monkeypatch.setattr(_Inference, "_reusable", lambda self, fix: None)
    without = [_summary(_Inference(s, with_fixes=True).report()) for s in specs]
    assert with_reuse == without
    found = [f for f in reused if original(_Inference(specs[0], with_fixes=False), f)]
    assert found, "no check reused a prefix: the test did not test it"
    assert shapes._WINDOW_FIELDS >= {"kernel", "stride", "padding"}
