"""Experiments built from the library: the pre-registered method-effect protocol (issue 11).

* :mod:`.bootstrap` -- two-level bootstrap intervals (seeds, then queries) and paired differences;
* :mod:`.method_effect` -- fine-tune each arm from a base model for several seeds and evaluate;
* :mod:`.diagnostics` -- what the batches of each arm look like (geographic spread, hardest negatives).
"""
