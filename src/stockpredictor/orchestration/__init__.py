"""The KFP side of the domain: the component runtime, and running the pipelines locally or on a cluster.

The pipeline definitions live in the top-level `pipelines` package, which imports the domain and is
never imported by it: `catalogue` finds them through the distribution's entry point, and `local` and
`cluster` take the pipeline object they run.
"""
