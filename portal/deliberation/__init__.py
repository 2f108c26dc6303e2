"""Deliberation (议事协商): proposals, supports, threads with stances, official answers, moderation."""
