"""Sustainability disclosures (CSRD/ESRS, GRI, SASB, IFRS S2) whose every quality-derived figure links to anchored
evidence, and verifiable conformity certificates (docs/architecture.md section 9)."""
