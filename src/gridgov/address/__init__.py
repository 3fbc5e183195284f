"""The unified address library: normalise, parse and match messy Chinese addresses to standard ones."""
