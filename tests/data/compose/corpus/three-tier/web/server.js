const express = require("express");
const app = express();
app.get("/healthz", (_req, res) => res.send("ok"));
app.get("/", async (_req, res) => res.send(await (await fetch(`${process.env.API_URL}/products`)).text()));
app.listen(3000);
