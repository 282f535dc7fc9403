// Draws each chart of the page from the plotly figure in its data-figure attribute (JSON, escaped by the server).
"use strict";
document.querySelectorAll(".chart[data-figure]").forEach((element) => {
  const figure = JSON.parse(element.dataset.figure);
  Plotly.newPlot(element, figure.data, figure.layout, { displaylogo: false, responsive: true });
});
