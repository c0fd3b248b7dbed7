"""Test helpers shared by the suite: the loopback OpenAI server, fakes and builders."""
