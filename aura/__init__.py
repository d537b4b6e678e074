"""aura: a general agent runtime kernel. It knows nothing about trading and never imports auraquant."""
