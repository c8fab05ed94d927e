package store

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Validators: the collections' $jsonSchema validators (`syncgate schemas
// apply`).

// ErrNoValidators means the server cannot hold $jsonSchema validators.
var ErrNoValidators = errors.New("this database does not support $jsonSchema collection validators (FerretDB does not); apply them on MongoDB")

// ApplyValidator sets collection's validator: create when missing, collMod
// otherwise, with the given validationLevel (strict, moderate) and
// validationAction (error, warn).
func (m *Mongo) ApplyValidator(ctx context.Context, collection string, validator any, level, action string) error {
	if m.FerretDB() {
		return ErrNoValidators
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	names, err := m.db.ListCollectionNames(ctx, bson.D{{Key: "name", Value: collection}})
	if err != nil {
		return classify("list collections", err)
	}
	cmd := bson.D{{Key: "create", Value: collection}}
	if len(names) > 0 {
		cmd = bson.D{{Key: "collMod", Value: collection}}
	}
	cmd = append(cmd, bson.E{Key: "validator", Value: validator},
		bson.E{Key: "validationLevel", Value: level}, bson.E{Key: "validationAction", Value: action})
	if err := m.db.RunCommand(ctx, cmd).Err(); err != nil {
		var se mongo.ServerError
		if errors.As(err, &se) && se.HasErrorCode(115) { // CommandNotSupported / NotImplemented
			return ErrNoValidators
		}
		return classify(cmd[0].Key+" "+collection, err)
	}
	return nil
}
