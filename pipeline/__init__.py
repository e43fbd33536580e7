"""Orchestration: videos in, cross-camera tracks (JSON) out."""
