"""The application layer: what turns a command line or a checkpoint into a training run.

Hydra composition on the app's search path (``compose``), the declared settings and their checks
(``settings``, ``schema``, ``config``), checkpoints as data (``checkpoint``) and as trained
networks (``trained``), resuming (``resume``), training from a config (``train``), and the scripts'
answers to mistakes and their exit statuses (``cli``, ``script_args``). It builds on the training
library (``ganopt.module``, ``data``, ``models``, ``optim``, ``metrics``, ``callbacks``, …), which
never imports it; the tools (``study``, ``report``, ``games``, ``benchmark``) build on both.
"""
