"""Explain what the gateway does with one token — each stage, then the named cause and the fix.

Runs the serving pipeline (``pipeline.build.build_gateway``) with a recording tracer and a dry-run
upstream; the serving packages never import this one.
"""

from subwarden.diagnose.api import admin_diagnose, diagnose_json
from subwarden.diagnose.render import render_text
from subwarden.diagnose.report import Finding, Report, load_schema
from subwarden.diagnose.run import DiagnoseRequest, diagnose

__all__ = ["DiagnoseRequest", "Finding", "Report", "admin_diagnose", "diagnose", "diagnose_json", "load_schema",
           "render_text"]
