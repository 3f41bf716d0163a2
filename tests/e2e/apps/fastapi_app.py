"""A small FastAPI app for end-to-end tests, served by uvicorn under opentelemetry-instrument."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException

app = FastAPI()
ITEMS = {1: "book", 2: "pen"}


@app.get("/items/{item_id}")
async def item(item_id: int) -> dict[str, object]:
    """One item, 404 when unknown."""
    if item_id not in ITEMS:
        raise HTTPException(status_code=404, detail="not found")
    return {"id": item_id, "name": ITEMS[item_id]}


@app.get("/health")
async def health() -> str:
    """Readiness probe."""
    return "ok"
