"""Strategy plugin for bench/scenario_strategy.py (not used by dlfleet or its tests): Mitogen's
linear strategy for the plays on a Molecule scenario's instances, Ansible's own linear
strategy for the plays on the control machine (the Molecule docker driver's create and destroy,
whose `async` jobs on a Mitogen `local` connection never finish for community.docker's modules).
"""

from __future__ import annotations

import ansible_mitogen.loaders
import ansible_mitogen.strategy

Linear = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Linear):
    def run(self, iterator, play_context, result=0):
        play = iterator._play
        hosts = self._inventory.get_hosts(play.hosts)
        if play.connection == "local" or (
            hosts and all(getattr(h, "implicit", False) for h in hosts)
        ):
            return Linear.run(self, iterator, play_context)
        return super().run(iterator, play_context)
