"""The dashboard checks of e2e.py catch what they are there to catch (scripts/alerts.sh runs this
before the real Prometheus): each mutation of the shipped dashboard must be refused, with a
message that names the panel."""

import copy
import json
import os
import unittest

import e2e

DASHBOARD = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "grafana", "lantern-dashboard.json")


class Refused(Exception):
    pass


def refuse(message):
    raise Refused(message)


class DashboardLint(unittest.TestCase):
    def setUp(self):
        with open(DASHBOARD, encoding="utf-8") as file:
            self.dashboard = json.load(file)
        self.fail_before, e2e.fail = e2e.fail, refuse

    def tearDown(self):
        e2e.fail = self.fail_before

    def first_query_panel(self, dashboard):
        return next(panel for panel in dashboard["panels"] if panel["type"] != "row")

    def refused(self, mutate, words):
        dashboard = copy.deepcopy(self.dashboard)
        mutate(dashboard)
        with self.assertRaises(Refused) as refused:
            e2e.lint_dashboard(dashboard)
        self.assertIn(words, str(refused.exception))

    def test_the_shipped_dashboard_passes(self):
        variables, queried = e2e.lint_dashboard(self.dashboard)
        self.assertIn("instance", variables)
        self.assertGreater(len(queried), 20)

    def test_a_panel_past_the_grid_is_refused(self):
        self.refused(lambda d: self.first_query_panel(d)["gridPos"].update(x=22, w=4), "24-column grid")

    def test_overlapping_panels_are_refused(self):
        def overlap(dashboard):
            panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
            panels[1]["gridPos"] = dict(panels[0]["gridPos"])

        self.refused(overlap, "overlaps")

    def test_an_undefined_variable_is_refused(self):
        def undefined(dashboard):
            target = self.first_query_panel(dashboard)["targets"][0]
            target["expr"] = target["expr"].replace("$instance", "$node")

        self.refused(undefined, "$node")

    def test_a_fixed_data_source_is_refused(self):
        self.refused(lambda d: self.first_query_panel(d)["datasource"].update(uid="P1809F7CD0C75ACF3"), "datasource")

    def test_a_repeated_id_is_refused(self):
        def repeat(dashboard):
            dashboard["panels"][2]["id"] = dashboard["panels"][1]["id"]

        self.refused(repeat, "used twice")


if __name__ == "__main__":
    unittest.main()
