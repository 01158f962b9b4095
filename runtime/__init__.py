"""Windows-side runtime: loads a bundle and chats or calls. Light dependencies only."""
