"""hamster-sim: the simulated world the real server runs in.

`sim.fs` is a disk with crash semantics behind hamster's `FileSystem`,
`sim.meta` a model of LevelDB behind its `MetaStore`; a crashed instance's
views raise `sim.errors.SimCrash`. hamster never imports sim.
"""
