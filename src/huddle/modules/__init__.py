"""The modules Huddle serves, each a declaration (`api.declared.Module`) plus its own code."""
