"""A network too big for this machine is said so in the designer as soon as it is drawn, with
the figures, before anything is built."""

from __future__ import annotations

from engine.spec import NetworkSpec


def _terabyte_spec(tmp_path):
    spec = NetworkSpec.from_dict(
        {
            "format": "cnn-workbench/network",
            "version": 1,
            "input": {"channels": 3, "height": 1024, "width": 1024},
            "layers": [{"type": "flatten"}, {"type": "dense", "units": 1_000_000}],
        }
    )
    path = tmp_path / "tb.json"
    path.write_text(spec.to_json())
    return str(path)


def test_the_designer_names_the_figures(make_window, tmp_path):
    from workbench.views.problems import ProblemsPanel

    window = make_window(_terabyte_spec(tmp_path))
    header = window.findChild(ProblemsPanel).header.text()
    assert "Too big for this machine" in header and "11.4 TiB of parameters" in header


def test_a_network_that_fits_has_no_warning(make_window):
    from workbench.views.problems import ProblemsPanel

    window = make_window("lenet5")
    assert "Too big" not in window.findChild(ProblemsPanel).header.text()
