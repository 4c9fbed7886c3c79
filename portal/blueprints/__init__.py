"""The web layer: one package per feature, each a Blueprint with thin views."""
