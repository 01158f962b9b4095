"""Voice: pitch extraction shared by training-data preparation and live conversion."""
