"""The genetic algorithm itself: DEAP individuals and toolbox, the numba operators, the fast q-elitist engine, the
tensor engine (the same GA as torch ops on a device) and the plain reference engine. It works on gene blocks (numpy,
or torch tensors on the tensor engine) and knows nothing of torch models or run directories."""
