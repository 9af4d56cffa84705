"""Entry point of service_b: `uvicorn main:app` or `python main.py` (HOST, PORT, RELOAD, ...)."""

from predictor.main import create_app, run

app = create_app()

if __name__ == "__main__":
    run()
