package main

import (
	"context"
	"database/sql"
	"fmt"
)

// product is an item of the catalogue. Prices are in cents.
type product struct {
	ID          string
	Name        string
	Description string
	Price       int
}

// catalogue is the shop's stock: fixed, so the example needs no admin
// screens to fill it.
var catalogue = []product{
	{ID: "tea", Name: "Green tea", Description: "100 g of loose sencha from Shizuoka.", Price: 850},
	{ID: "mug", Name: "Stoneware mug", Description: "Hand-thrown, 300 ml, dishwasher safe.", Price: 1800},
	{ID: "kettle", Name: "Gooseneck kettle", Description: "0.8 l, for a steady pour.", Price: 4900},
	{ID: "filter", Name: "Paper filters", Description: "A box of 100.", Price: 400},
}

func productByID(id string) (product, bool) {
	for _, p := range catalogue {
		if p.ID == id {
			return p, true
		}
	}
	return product{}, false
}

// line is one product in a cart.
type line struct {
	Product  product
	Quantity int
}

// Subtotal is the line's price.
func (l line) Subtotal() int { return l.Product.Price * l.Quantity }

// cart is a user's cart.
type cart struct {
	Lines []line
}

// Total is the price of the cart.
func (c cart) Total() int {
	t := 0
	for _, l := range c.Lines {
		t += l.Subtotal()
	}
	return t
}

// Count is the number of items in the cart.
func (c cart) Count() int {
	n := 0
	for _, l := range c.Lines {
		n += l.Quantity
	}
	return n
}

// maxQuantity bounds one line of a cart.
const maxQuantity = 99

// carts keeps every user's cart in the shop's own table, in the same
// SQLite file as valet's tables.
type carts struct{ db *sql.DB }

func (c *carts) migrate(ctx context.Context) error {
	_, err := c.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS shop_cart_lines (
		user_id    TEXT NOT NULL,
		product_id TEXT NOT NULL,
		quantity   INTEGER NOT NULL CHECK (quantity > 0),
		PRIMARY KEY (user_id, product_id)
	)`)
	return err
}

// get returns the cart of userID, in the catalogue's order.
func (c *carts) get(ctx context.Context, userID string) (cart, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT product_id, quantity FROM shop_cart_lines WHERE user_id = ?`, userID)
	if err != nil {
		return cart{}, err
	}
	defer rows.Close()
	qty := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return cart{}, err
		}
		qty[id] = n
	}
	if err := rows.Err(); err != nil {
		return cart{}, err
	}
	var out cart
	for _, p := range catalogue {
		if n := qty[p.ID]; n > 0 {
			out.Lines = append(out.Lines, line{Product: p, Quantity: n})
		}
	}
	return out, nil
}

// add puts n more of productID in the cart of userID, up to maxQuantity.
func (c *carts) add(ctx context.Context, userID, productID string, n int) error {
	if _, ok := productByID(productID); !ok {
		return fmt.Errorf("no product %q", productID)
	}
	if n < 1 || n > maxQuantity {
		return fmt.Errorf("quantity must be between 1 and %d", maxQuantity)
	}
	_, err := c.db.ExecContext(ctx, `INSERT INTO shop_cart_lines (user_id, product_id, quantity) VALUES (?, ?, ?)
		ON CONFLICT (user_id, product_id) DO UPDATE SET quantity = min(quantity + excluded.quantity, ?)`,
		userID, productID, n, maxQuantity)
	return err
}

// remove takes productID out of the cart of userID.
func (c *carts) remove(ctx context.Context, userID, productID string) error {
	_, err := c.db.ExecContext(ctx, `DELETE FROM shop_cart_lines WHERE user_id = ? AND product_id = ?`, userID, productID)
	return err
}

// counts returns the number of items in each user's cart.
func (c *carts) counts(ctx context.Context) (map[string]int, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT user_id, sum(quantity) FROM shop_cart_lines GROUP BY user_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}
