// Command notify sends payment notifications to merchants.
package main

import (
	"fmt"
	"log"
	"net/http"
)

// Notification is one message to one merchant.
type Notification struct {
	MerchantID string
	Message    string
}

// Send delivers a notification; today it only logs it.
func Send(n Notification) error {
	log.Printf("notify %s: %s", n.MerchantID, n.Message)
	return nil
}

func handleNotify(w http.ResponseWriter, r *http.Request) {
	merchant := r.URL.Query().Get("merchant")
	if err := Send(Notification{MerchantID: merchant, Message: "payment settled"}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, "ok")
}

func main() {
	http.HandleFunc("/notify", handleNotify)
	log.Fatal(http.ListenAndServe("127.0.0.1:8090", nil))
}
