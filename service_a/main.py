"""Entry point of service_a: `uvicorn main:app` or `python main.py` (HOST, PORT, RELOAD, ...)."""

from gateway.main import create_app, run

app = create_app()

if __name__ == "__main__":
    run()
