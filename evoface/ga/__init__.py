"""The genetic algorithm itself: DEAP individuals and toolbox, the numba operators, the fast q-elitist engine and the
plain reference engine. It works on numpy gene blocks and knows nothing of torch models or run directories."""
