"""Entry point of service_b: `python main.py` serves it, configured from the environment
(HOST, PORT, WORKERS, ...); `uvicorn main:app` imports the app instead."""

from predictor.main import ENTRY

if __name__ == "__main__":
    ENTRY.run()
else:
    app = ENTRY.imported_app()
