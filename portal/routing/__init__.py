"""Routing: which department handles a case, with which co-departments, by when."""
