"""Call mode: the live face and the live voice together (`python -m runtime call`)."""
