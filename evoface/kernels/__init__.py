"""Every CPU fast path of evoface, behind one switch, and the thread policy that goes with them.

``--kernels auto`` (the default) lets each fast path run where this machine supports it; ``--kernels plain`` runs
plain torch everywhere, and so does the environment variable ``EVOFACE_KERNELS=plain`` for a whole process (a test
run, say), whatever a command asks for. The fast paths, each with its plain reference in the same module:

- ``onednn-graph`` (``onednn.Graphed``): the fp32 faceness net as one TorchScript graph fused by oneDNN;
- ``onednn-matmul`` (``onednn.matmul``): the face space's fp32 products through oneDNN off Intel's CPUs;
- ``packed-convolutions`` (``packed_convs``): convolutions and their activations as single oneDNN kernels with
  packed weights: bf16 ones under autocast, and a decoder's transposed ones in fp32;
- ``heap-blocks`` (``allocator``): glibc's thresholds fixed around the evolve loop and FID's features.

Their gains, by CPU, are in bench/README.md. A fast path computes what its reference computes in another order: the
same ranking within a stated tolerance, not the same bits. The same bits are promised only on the same path, shapes,
machine and thread count, which is what an exact resume needs.

The thread policy (``sharing``, ``threads``): evoface processes on one machine list themselves; one that starts
while another runs waits passively, and one that started alone takes the cores divided by the runs once others
appear, so that runs side by side do not oversubscribe a small machine. ``switch`` holds the choice and imports
neither torch nor the rest of the project; ``choice`` says what ``auto`` picks on this machine.
"""
