"""Face geometry the live call path shares with the offline face pipelines (numpy + cv2 only)."""
