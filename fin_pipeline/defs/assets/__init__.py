"""Thin Dagster assets, one module per stage; each calls the library and records metadata."""
