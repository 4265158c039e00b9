"""``evoface studio``: interactive evolution in the browser, with a person as the fitness (as in EvoFIT and Deep
Interactive Evolution). ``session`` holds the state in a run directory, ``breeding`` is the GA step, ``app`` the
Flask application, ``server`` starts it."""
