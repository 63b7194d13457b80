"""Dataset exports: judgments turned into SFT, DPO/reward and KTO files with a data card."""
