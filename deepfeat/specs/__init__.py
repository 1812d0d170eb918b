"""The public schema: what users send and what deepfeat answers, shared by server and client."""
