"""The conformance kit on this package: ``pip install -e . && pytest`` here (specinterp installed).

``check_plugin`` finds every model, explainer, renderer and dataset the distribution registers through
its entry point and runs the kit's rules on each; a broken rule fails the test with a message naming it.
"""

from specinterp_loudness import Loudness

from specinterp.testing import check_explainer, check_plugin


def test_every_plugin_of_the_package_follows_the_contracts():
    reports = check_plugin("specinterp-loudness")
    assert [report.subject for report in reports] == ["explainer 'loudness' on model 'camcnn'"]


def test_loudness_with_a_floor_follows_the_contracts():
    report = check_explainer(Loudness(), options={"floor": -60.0})
    assert "batch-independence" in report.passed
