"""KFP components: one thin, typed wrapper per stage of `stockpredictor.stages` (plus `configure`).

Each module holds one lightweight component running in the project image; the body imports inside
the function (KFP ships the function's source) and calls the stage.
"""
