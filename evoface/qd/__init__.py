"""Quality-diversity parts of ``evoface illuminate``: measures, the GA emitter, pyribs state in checkpoints, figures."""
