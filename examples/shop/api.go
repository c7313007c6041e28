package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/valetauth/valet"
)

// The mobile app's JSON API. It logs in at /auth/v1/login with mode "token"
// and calls these with "Authorization: Bearer <access token>"; errors have
// the shape of valet's: {"error": code, "message": sentence}.

type productJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	PriceCents  int    `json:"price_cents"`
}

type lineJSON struct {
	ProductID     string `json:"product_id"`
	Name          string `json:"name"`
	Quantity      int    `json:"quantity"`
	SubtotalCents int    `json:"subtotal_cents"`
}

type cartJSON struct {
	Items      []lineJSON `json:"items"`
	Count      int        `json:"count"`
	TotalCents int        `json:"total_cents"`
}

func toCartJSON(c cart) cartJSON {
	out := cartJSON{Items: []lineJSON{}, Count: c.Count(), TotalCents: c.Total()}
	for _, l := range c.Lines {
		out.Items = append(out.Items, lineJSON{ProductID: l.Product.ID, Name: l.Product.Name, Quantity: l.Quantity, SubtotalCents: l.Subtotal()})
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeAPIError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error": code, "message": msg})
}

func (a *app) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	a.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "err", err)
	if errors.Is(err, valet.ErrUnavailable) {
		writeAPIError(w, http.StatusServiceUnavailable, "unavailable", "The shop is busy; try again shortly.")
		return
	}
	writeAPIError(w, http.StatusInternalServerError, "internal", "Something went wrong on our side.")
}

func (a *app) apiProducts(w http.ResponseWriter, r *http.Request) {
	out := make([]productJSON, 0, len(catalogue))
	for _, p := range catalogue {
		out = append(out, productJSON{ID: p.ID, Name: p.Name, Description: p.Description, PriceCents: p.Price})
	}
	writeJSON(w, http.StatusOK, map[string]any{"products": out})
}

func (a *app) apiCart(w http.ResponseWriter, r *http.Request) {
	u, _ := valet.UserFrom(r.Context())
	c, err := a.carts.get(r.Context(), u.ID)
	if err != nil {
		a.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toCartJSON(c))
}

func (a *app) apiAdd(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ProductID string `json:"product_id"`
		Quantity  int    `json:"quantity"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeAPIError(w, http.StatusBadRequest, "invalid_request", "The body must be {\"product_id\": ..., \"quantity\": ...}.")
		return
	}
	if in.Quantity == 0 {
		in.Quantity = 1
	}
	if _, ok := productByID(in.ProductID); !ok {
		writeAPIError(w, http.StatusNotFound, "not_found", "No such product.")
		return
	}
	u, _ := valet.UserFrom(r.Context())
	if err := a.carts.add(r.Context(), u.ID, in.ProductID, in.Quantity); err != nil {
		writeAPIError(w, http.StatusBadRequest, "invalid_request", "The quantity must be between 1 and 99.")
		return
	}
	c, err := a.carts.get(r.Context(), u.ID)
	if err != nil {
		a.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toCartJSON(c))
}

func (a *app) apiRemove(w http.ResponseWriter, r *http.Request) {
	u, _ := valet.UserFrom(r.Context())
	if err := a.carts.remove(r.Context(), u.ID, r.PathValue("id")); err != nil {
		a.apiFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
